"""Prints the messages in a Maildir as JSON, decoded by Python's own e-mail parser (an
independent reader of what tests/mail.rs sent): headers, envelope, text and HTML parts.

Run as: python read_maildir.py MAILDIR
"""

import json
import mailbox
import sys
from email import policy
from email.parser import BytesParser


def header(message, name):
    value = message[name]
    return None if value is None else str(value)


messages = []
maildir = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in sorted(maildir.keys()):
    with maildir.get_file(key) as file:
        message = BytesParser(policy=policy.default).parse(file)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    messages.append(
        {
            "from": header(message, "From"),
            "to": header(message, "To"),
            "subject": header(message, "Subject"),
            "message_id": header(message, "Message-ID"),
            "content_type": message.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None and html is not text else None,
            "mail_from": header(message, "X-MailFrom"),
            "rcpt_to": header(message, "X-RcptTo"),
        }
    )
json.dump(messages, sys.stdout)
