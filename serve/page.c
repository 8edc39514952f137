/*
 * The page at "/": serve/page.html, embedded in the binary as it is (the
 * assembler's .incbin, so the file stays plain HTML to edit and no build
 * step rewrites it). The Makefile makes this object depend on page.html.
 */
#include "serve.h"

__asm__(".section .rodata\n"
        ".global serve_page\n"
        ".type serve_page, @object\n"
        "serve_page:\n"
        ".incbin \"serve/page.html\"\n"
        ".global serve_page_end\n"
        ".type serve_page_end, @object\n"
        "serve_page_end:\n"
        ".byte 0\n"
        ".previous\n");
