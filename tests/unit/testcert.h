/* testcert: TLS files for the unit tests that need them (test_config,
 * test_tls): an EC P-256 key and a self-signed certificate, written as PEM.
 * Failures are cmocka assertions. */
#ifndef WEIR_TESTCERT_H
#define WEIR_TESTCERT_H

#include <openssl/evp.h>

/* A new key, written to PATH. Release with EVP_PKEY_free. */
EVP_PKEY *testcert_write_key(const char *path);

/* A self-signed certificate for KEY (CN "weir test"), valid for a day,
 * written to each of PATHS (NULL-terminated). */
void testcert_write_cert(EVP_PKEY *key, const char *const *paths);

#endif
