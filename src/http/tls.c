/* TLS policy (the GnuTLS priority string) and the development certificate. */
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "http/http_internal.h"

/* ECDHE only, AEAD only (AES-GCM, ChaCha20-Poly1305), no SHA-1 signatures, server's order. */
#define PRIO_COMMON                                                                          \
	"-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:"   \
	"+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:" \
	"-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE"

const char *pp_http_tls_priorities(const char *min_version)
{
	if (min_version && strcmp(min_version, "1.3") == 0)
		return "NORMAL:-VERS-ALL:+VERS-TLS1.3:" PRIO_COMMON;
	return "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" PRIO_COMMON;
}

int pp_http_tls_create_dev_cert(const char *cert_path, const char *key_path)
{
	int rc = PP_ECRYPTO;
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t key_pem = {NULL, 0}, crt_pem = {NULL, 0};
	unsigned char serial[16], keyid[64];
	size_t keyid_len = sizeof(keyid);
	unsigned char ip[4];
	time_t now = time(NULL);

	if (!cert_path || !key_path)
		return PP_EINVAL;
	if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0)
		goto out;
	if (gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	                                 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		goto out;
	if (pp_random(serial, sizeof(serial)) < 0)
		goto out;
	serial[0] &= 0x7f;   /* a positive serial number */
	serial[0] |= 0x01;   /* without a leading zero byte */
	if (inet_pton(AF_INET, "127.0.0.1", ip) != 1)
		goto out;
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 60) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 365L * 24 * 3600) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost",
	                                  strlen("localhost")) < 0 ||
	    gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost",
	                                         strlen("localhost"), GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, sizeof(ip),
	                                         GNUTLS_FSAN_APPEND) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
		goto out;
	if (gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_len) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len) < 0)
		goto out;
	if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		goto out;
	if (gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
	                                      &key_pem) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem) < 0)
		goto out;
	rc = pp_file_write_atomic(key_path, key_pem.data, key_pem.size, 0600);
	if (rc < 0)
		goto out;
	rc = pp_file_write_atomic(cert_path, crt_pem.data, crt_pem.size, 0644);
out:
	if (key_pem.data) {
		pp_wipe(key_pem.data, key_pem.size);
		gnutls_free(key_pem.data);
	}
	gnutls_free(crt_pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

/* ---- a response in one write ----
 * libmicrohttpd hands GnuTLS the header and the body of a response in two calls, so each goes out
 * as its own TLS record in its own sendmsg: two packets, and the client wakes up twice. Corking the
 * session makes GnuTLS keep both and send them as one record when uncorked, right after
 * libmicrohttpd has handed over the last byte (the completion callback runs in the same pass).
 * Only when the socket's send buffer has room for the whole response with a wide margin, so that
 * the uncork, which waits until everything is written, never actually waits; and only for bodies
 * of at least CORK_MIN bytes: for a shorter response libmicrohttpd corks the TCP socket itself
 * (header and body then leave in one packet already) and uncorks it before our uncork writes,
 * leaving our bytes to the kernel's 200 ms cork timer. From CORK_MIN on it always pushes. */
#define CORK_MIN 1400   /* libmicrohttpd pushes the header alone from 1400 bytes of response on */
#define CORK_MAX (64 * 1024)   /* a few records; larger bodies go out as libmicrohttpd writes them */

bool pp_http_tls_cork(void *session, int fd, size_t len)
{
	int outq = 0, sndbuf = 0;
	socklen_t sl = sizeof sndbuf;
	if (!session || fd < 0 || len < CORK_MIN || len > CORK_MAX)
		return false;   /* one record at most: larger responses go out record by record */
	if (ioctl(fd, SIOCOUTQ, &outq) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) != 0 ||
	    sndbuf < 0 || outq < 0 || (size_t)(sndbuf - outq) < 2 * (len + 1024))
		return false;
	gnutls_record_cork((gnutls_session_t)session);
	return true;
}

void pp_http_tls_uncork(void *session, int fd)
{
	const int off = 0, on = 1;
	int rc;
	do
		rc = gnutls_record_uncork((gnutls_session_t)session, GNUTLS_RECORD_WAIT);
	while (rc == GNUTLS_E_INTERRUPTED);
	/* libmicrohttpd set the socket's cork and Nagle options for its own writes, which came before
	 * ours: push what we wrote now (its view of the options only costs it some batching later).
	 * Needed: for the 3.5 and 23 KB FHIR bodies both calls happen to change nothing, but without
	 * them other corked responses waited on the kernel's timers (the authorization matrix test
	 * took 73 s instead of 6-8 s). */
	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}
