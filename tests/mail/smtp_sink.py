"""The SMTP server of tests/mail.rs: aiosmtpd's Mailbox handler (every accepted message is
stored in a Maildir) that also refuses some recipients, to show how the sender treats a
server's refusals: a local part starting with "reject" gets a permanent 550, one starting
with "later" a transient 451.

Run as: python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Sink MAILDIR
(with this folder on PYTHONPATH).
"""

from aiosmtpd.handlers import Mailbox


class Sink(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local_part = address.partition("@")[0]
        if local_part.startswith("reject"):
            return "550 5.1.1 No such mailbox here"
        if local_part.startswith("later"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"
