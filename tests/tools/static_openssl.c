/* A test input for the discovery unit tests (tests/unit/discovery_test.cpp):
 * a program with Debian's OpenSSL 3 linked in statically, as Rust's
 * native-tls links it into Copilot CLI's runtime.node. The build keeps this
 * copy's symbols and strips another: discovery must find ssl_read_internal
 * and ssl_write_internal in the stripped one where the symbols say they are.
 * It is never run. */
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdio.h>

int main(int argc, char** argv) {
  (void)argv;
  /* Like rust-openssl and Node, it reports its version: the version text is
   * what tells ssl_write_internal's arguments (3.2 added one). */
  puts(OpenSSL_version(OPENSSL_VERSION));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  char buf[64];
  size_t n = 0;
  if (argc > 1) {
    SSL_write_ex(ssl, "hi", 2, &n);
    SSL_read_ex(ssl, buf, sizeof(buf), &n);
    SSL_write(ssl, "hi", 2);
    SSL_read(ssl, buf, sizeof(buf));
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return 0;
}
