"""A real SMTP server for tocsin-notify's tests, built on aiosmtpd (Debian: python3-aiosmtpd).

Usage: smtp_server.py MODE CERT KEY USER PASSWORD
  MODE: plain | starttls (STARTTLS offered and required) | tls (TLS from the first byte)
  USER/PASSWORD: when USER is not empty, AUTH is required and only this login passes.
Listens on 127.0.0.1, a free port. Writes JSON lines to stdout: {"event": "ready", "port": N}
once listening, then {"event": "mail", ...} for every accepted message. Recipients whose local
part is "busy" are refused with 451 (try later), "nobody" with 550 (no such user).
Stops when its standard input closes (the test process ended).
"""

import asyncio
import json
import logging
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "busy":
            return "451 4.3.2 mailbox busy, try again later"
        if local == "nobody":
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.content
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        event = {
            "event": "mail",
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": data,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "auth": bool(session.authenticated),
        }
        print(json.dumps(event), flush=True)
        return "250 2.0.0 Ok: queued"


def main():
    mode, cert, key, user, password = sys.argv[1:6]
    # Refused handshakes and deprecation notes are expected in these tests; keep stderr quiet.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    tls_context = None
    if mode in ("starttls", "tls"):
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd itself answers "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False)

    options = {"hostname": "localhost"}
    if user:
        options.update(authenticator=authenticator, auth_required=True)
    if mode == "starttls":
        options.update(tls_context=tls_context, require_starttls=True)
    if mode == "tls":
        # aiosmtpd only knows about STARTTLS; the whole connection is already encrypted here.
        options.update(auth_require_tls=False)

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Handler(), **options),
            "127.0.0.1",
            0,
            ssl=tls_context if mode == "tls" else None,
        )
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"event": "ready", "port": port}), flush=True)
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
