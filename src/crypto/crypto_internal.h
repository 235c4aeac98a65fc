/* Private to crypto/: pieces shared between the files of the module. */
#ifndef PP_CRYPTO_INTERNAL_H
#define PP_CRYPTO_INTERNAL_H

#include "crypto/crypto.h"

/* Reads the KEK from the key file after the same checks as pp_crypto_keyfile_check (done on the
 * opened descriptor); PP_ECONFIG when the file is unsafe or not exactly 32 bytes. */
int pp_crypto_keyfile_load(const char *path, uint8_t kek[PP_CRYPTO_KEY_LEN]);

#endif
