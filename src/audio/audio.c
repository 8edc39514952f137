/*
 * Audio files through libsndfile (WAV, FLAC, Ogg, AIFF, ...): whatever the
 * file holds comes out as mono float samples in [-1, 1] at the file's rate.
 * Several channels are mixed down by their mean (documented in recur.h);
 * a rate other than the caller's is refused with the sox line that
 * converts it, rather than resampled here: a resampler of our own would be
 * worse than sox's, and silently changing the rate hides a mistake.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sndfile.h>

#include "audio/audio.h"
#include "core/error.h"

recur_status recur_audio_load(const char *path, int sample_rate, double max_seconds, float **samples, size_t *n,
                              recur_error *err)
{
    *samples = NULL;
    *n = 0;
    if (!path) return recur_fail(err, RECUR_ERR_ARG, "audio: no file given");
    struct stat st;
    if (stat(path, &st) != 0) return recur_fail(err, RECUR_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return recur_fail(err, RECUR_ERR_IO, "%s: is a folder, not an audio file", path);
    if (st.st_size == 0) return recur_fail(err, RECUR_ERR_DATA, "%s: empty file, not audio", path);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) return recur_fail(err, RECUR_ERR_DATA, "%s: not an audio file libsndfile can read (%s)", path, sf_strerror(NULL));
    recur_status s = RECUR_OK;
    if (info.channels < 1 || info.samplerate < 1)
        s = recur_fail(err, RECUR_ERR_DATA, "%s: %d channels at %d Hz is not audio", path, info.channels, info.samplerate);
    else if (sample_rate > 0 && info.samplerate != sample_rate)
        s = recur_fail(err, RECUR_ERR_DATA, "%s: %d Hz audio, the features expect %d Hz (convert it: sox '%s' -r %d out.wav)",
                       path, info.samplerate, sample_rate, path, sample_rate);
    else if (info.frames <= 0)
        s = recur_fail(err, RECUR_ERR_DATA, "%s: no audio frames", path);
    else if (max_seconds > 0 && (double)info.frames / info.samplerate > max_seconds)
        s = recur_fail(err, RECUR_ERR_DATA, "%s: %.0f s of audio is longer than the limit of %.0f s", path,
                       (double)info.frames / info.samplerate, max_seconds);
    if (s) {
        sf_close(sf);
        return s;
    }
    size_t frames = (size_t)info.frames, ch = (size_t)info.channels;
    float *out = malloc(frames * sizeof(float));
    float *buf = ch > 1 ? malloc(4096 * ch * sizeof(float)) : NULL;
    if (!out || (ch > 1 && !buf)) {
        free(out);
        free(buf);
        sf_close(sf);
        return recur_fail(err, RECUR_ERR_NOMEM, "%s: out of memory for %zu samples", path, frames);
    }
    size_t got = 0;
    while (got < frames) {
        size_t want = frames - got < 4096 ? frames - got : 4096;
        sf_count_t r;
        if (ch == 1) {
            r = sf_readf_float(sf, out + got, (sf_count_t)want);
        } else {
            r = sf_readf_float(sf, buf, (sf_count_t)want);
            for (sf_count_t i = 0; i < r; i++) {
                double m = 0;
                for (size_t c = 0; c < ch; c++) m += buf[(size_t)i * ch + c];
                out[got + (size_t)i] = (float)(m / (double)ch);
            }
        }
        if (r <= 0) break;
        got += (size_t)r;
    }
    int e = sf_error(sf);
    sf_close(sf);
    free(buf);
    if (got < frames || e) {
        free(out);
        return recur_fail(err, RECUR_ERR_DATA, "%s: truncated or damaged audio: %zu of %zu frames read", path, got,
                          frames);
    }
    for (size_t i = 0; i < got; i++)
        if (!(out[i] >= -1e6f && out[i] <= 1e6f)) {
            free(out);
            return recur_fail(err, RECUR_ERR_DATA, "%s: sample %zu is not a finite number", path, i);
        }
    *samples = out;
    *n = got;
    return RECUR_OK;
}
