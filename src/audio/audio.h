/* Audio files and speech features (internal header: the API is in recur.h). */
#ifndef RECUR_AUDIO_AUDIO_H
#define RECUR_AUDIO_AUDIO_H
#include "recur.h"

/* RECUR_OK when c is a configuration the featurizer accepts, else one line
 * saying which field is out of range (RECUR_ERR_ARG). */
recur_status features_check(const recur_features_config *c, recur_error *err);
#endif
