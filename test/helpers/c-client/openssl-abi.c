/* openssl-abi.c - checks clients/c/ipc.c's own declarations of OpenSSL (it
 * loads OpenSSL at run time, without its headers) against OpenSSL's headers:
 * every function pointer has the function's exact type, every constant its
 * value, and err_reason() computes ERR_GET_REASON. Built and run by
 * test/unit/c-client/openssl-abi.test.ts; fails to compile on a mismatch. */
#define _GNU_SOURCE /* as ipc.c, before any header */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include IPC_C

#define SAME_TYPE(ret, name, params) \
	_Static_assert(__builtin_types_compatible_p(__typeof__(ossl.name), __typeof__(&name)), #name " has another type in OpenSSL");
OPENSSL_FUNCTIONS(SAME_TYPE)

#define SAME_VALUE(name) _Static_assert(FNJ_##name == name, #name " has another value in OpenSSL");
SAME_VALUE(TLS1_2_VERSION)
SAME_VALUE(SSL_CTRL_SET_TLSEXT_HOSTNAME)
SAME_VALUE(TLSEXT_NAMETYPE_host_name)
SAME_VALUE(SSL_CTRL_SET_MIN_PROTO_VERSION)
SAME_VALUE(SSL_FILETYPE_PEM)
SAME_VALUE(SSL_VERIFY_PEER)
SAME_VALUE(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
SAME_VALUE(SSL_ERROR_WANT_READ)
SAME_VALUE(SSL_ERROR_WANT_WRITE)
SAME_VALUE(SSL_ERROR_SYSCALL)
SAME_VALUE(SSL_ERROR_ZERO_RETURN)
SAME_VALUE(SSL_R_UNEXPECTED_EOF_WHILE_READING)
SAME_VALUE(X509_V_OK)
SAME_VALUE(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)
SAME_VALUE(X509_V_ERR_CERT_SIGNATURE_FAILURE)
SAME_VALUE(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
SAME_VALUE(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
SAME_VALUE(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
SAME_VALUE(X509_V_ERR_INVALID_PURPOSE)
SAME_VALUE(X509_V_ERR_HOSTNAME_MISMATCH)
SAME_VALUE(X509_V_ERR_IP_ADDRESS_MISMATCH)

int main(void)
{
	/* A library error, a system error, and the edges of both. */
	unsigned long codes[] = {
		ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING),
		ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED),
		ERR_SYSTEM_FLAG | 104, ERR_SYSTEM_FLAG | ERR_SYSTEM_MASK, 0, 0x7FFFFF, 0xFFFFFFFFul,
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		if (err_reason(codes[i]) != ERR_GET_REASON(codes[i])) {
			printf("err_reason(%#lx) = %d, ERR_GET_REASON says %d\n", codes[i], err_reason(codes[i]), ERR_GET_REASON(codes[i]));
			return 1;
		}
	}
	/* And the library, loaded as a client would load it. */
	if (ossl_ready() < 0)
		return 1;
	printf("ok\n");
	return 0;
}
