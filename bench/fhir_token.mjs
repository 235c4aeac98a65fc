// Helper for bench/fhir_bench.sh: makes a backend client's key pair and obtains an access token
// with client_credentials + private_key_jwt (SMART Backend Services), using the `jose` package.
//   node bench/fhir_token.mjs keygen DIR                 -> DIR/jwks.json (public), DIR/key.json
//   node bench/fhir_token.mjs token DIR BASE CLIENT_ID   -> prints the access token
import { generateKeyPair, exportJWK, importJWK, SignJWT } from 'jose';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';

const [cmd, dir, base, clientId] = process.argv.slice(2);
if (cmd === 'keygen') {
  const { publicKey, privateKey } = await generateKeyPair('ES384', { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES384', use: 'sig' };
  const priv = { ...(await exportJWK(privateKey)), kid: 'bench-1', alg: 'ES384' };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [pub] }));
  writeFileSync(join(dir, 'key.json'), JSON.stringify(priv), { mode: 0o600 });
} else if (cmd === 'token') {
  const priv = JSON.parse(readFileSync(join(dir, 'key.json')));
  const key = await importJWK(priv, 'ES384');
  const tokenUrl = `${base}/oauth/token`;
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: priv.kid, typ: 'JWT' })
    .setIssuer(clientId).setSubject(clientId).setAudience(tokenUrl)
    .setJti(randomUUID()).setIssuedAt().setExpirationTime('4m').sign(key);
  const body = new URLSearchParams({
    grant_type: 'client_credentials', scope: 'system/Patient.rs system/Observation.rs',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  }).toString();
  const ca = readFileSync(join(dir, 'data', 'tls', 'cert.pem'));
  const res = await new Promise((resolve, reject) => {
    const req = https.request(tokenUrl, { method: 'POST', ca, servername: 'localhost',
      headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (r) => {
      let t = ''; r.on('data', (c) => { t += c; }); r.on('end', () => resolve({ status: r.statusCode, text: t }));
    });
    req.on('error', reject); req.end(body);
  });
  if (res.status !== 200) { console.error(`token endpoint answered ${res.status}: ${res.text}`); process.exit(1); }
  console.log(JSON.parse(res.text).access_token);
} else {
  console.error('usage: fhir_token.mjs keygen DIR | token DIR BASE CLIENT_ID'); process.exit(2);
}
