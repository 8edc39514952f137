/* Audio files and speech features (internal header: the API is in recur.h). */
#ifndef RECUR_AUDIO_AUDIO_H
#define RECUR_AUDIO_AUDIO_H
#include "recur.h"
#endif
