/* libFuzzer target: JWT and JWKS parsing through librhonabwy as the server uses it — inspecting
 * an untrusted JWT, checking a client's JWKS, and verifying a client assertion against a fixed
 * registered key (never accepted for fuzzed input).
 * fuzz-modules: core store crypto audit auth policy http oauth */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "oauth/oauth_internal.h"

static const char JWKS[] =
	"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"k1\",\"alg\":\"ES384\","
	"\"x\":\"FcVuxsRXTVcwlv6Wkgf-3fnArMqyTwSzJNJ8nzIgr6QZCvHDRTNjBRzi69zYEfJ1\","
	"\"y\":\"KMLbxCHgl_EZyZ_Tk4yI0kJaQ9Rd1Z6Zz2qEDgEg6UvPz8TqYXVyKXp16nKQ5Z8n\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, alg[32], *jti = NULL;
	json_t *claims = NULL;
	const char *why;
	int64_t exp;

	if (size > 16384)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	pp_oauth_jwt_inspect(text, size, alg, sizeof alg, &claims);
	json_decref(claims);
	if (text[0] == '{')
		pp_oauth_jwks_check(text);
	if (pp_oauth_verify_assertion(NULL, text, "client", JWKS, "https://localhost/oauth/token",
	                              &jti, &exp, &why) == PP_OK)
		abort();   /* no fuzzed input carries a signature by the registered key */
	free(jti);
	free(text);
	return 0;
}
