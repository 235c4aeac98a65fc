#!/usr/bin/python3
"""SMTP sink for the notification tests (Debian's python3-aiosmtpd; run with /usr/bin/python3).

Listens on 127.0.0.1:PORT, offers STARTTLS with the given certificate and REQUIRES it: MAIL before
STARTTLS is refused (530), so a client that would send in the clear gets nothing through (--plain: a server that offers no
STARTTLS at all, for the test that phiportal then sends nothing). With
--auth USER:PASSWORD, AUTH (only after STARTTLS) is required too. Each message received is written
atomically to OUTDIR/NNNN.json: {"mail_from", "rcpt_tos", "tls", "tls_version", "auth_user",
"data"}. Prints "ready" once it accepts connections; stops on SIGTERM/SIGINT.
"""
import argparse
import json
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir
        # numbering continues after the files already there (a sink restarted on the same outdir)
        self.n = max([int(f[:4]) for f in os.listdir(outdir) if f.endswith('.json')] or [0])
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        tls = session.ssl is not None
        version = None
        if tls:
            obj = session.ssl.get('ssl_object') if isinstance(session.ssl, dict) else None
            version = obj.version() if obj is not None else None
        content = envelope.original_content or envelope.content
        if isinstance(content, bytes):
            content = content.decode('utf-8', 'replace')
        rec = {
            'mail_from': envelope.mail_from,
            'rcpt_tos': envelope.rcpt_tos,
            'tls': tls,
            'tls_version': version,
            'auth_user': session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            'data': content,
        }
        with self.lock:
            self.n += 1
            name = os.path.join(self.outdir, '%04d.json' % self.n)
        tmp = name + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(rec, f)
        os.rename(tmp, name)
        return '250 OK'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--cert', required=True)
    ap.add_argument('--key', required=True)
    ap.add_argument('--outdir', required=True)
    ap.add_argument('--auth', default=None, help='USER:PASSWORD required after STARTTLS')
    ap.add_argument('--plain', action='store_true',
                    help='a server WITHOUT STARTTLS (to show that nothing is sent to it)')
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    kwargs = {}
    if args.auth:
        user, password = args.auth.split(':', 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, auth_data=auth_data if ok else None)
        kwargs = {'authenticator': authenticator, 'auth_required': True, 'auth_require_tls': True}
    if args.plain:
        controller = Controller(Sink(args.outdir), hostname='127.0.0.1', port=args.port)
    else:
        controller = Controller(Sink(args.outdir), hostname='127.0.0.1', port=args.port,
                                tls_context=ctx, require_starttls=True, **kwargs)
    controller.start()
    print('ready', flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    controller.stop()


if __name__ == '__main__':
    main()
