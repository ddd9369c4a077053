"""Second opinion on MIME structure from Python's standard `email` package.

Usage:
  email_oracle.py generate OUTDIR   write generated multipart bodies (NAME.bin) and the
                                    structure Python's parser reads from them (NAME.json)
  email_oracle.py parse BOUNDARY FILE   print the structure Python reads from a body
Strings are latin-1 mapped, so every byte survives JSON.
"""
import json, random, sys
from email import policy
from email.parser import BytesParser
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase


def tree(m):
    if m.is_multipart():
        return {
            "boundary": m.get_boundary(),
            "preamble": m.preamble or "",
            "epilogue": m.epilogue or "",
            "parts": [tree(p) for p in m.get_payload()],
        }
    cte = (m.get("Content-Transfer-Encoding") or "").strip().lower()
    payload = m.get_payload(decode=False)
    if isinstance(payload, list):  # message/* parts
        raw = "".join(p.as_string() for p in payload)
    elif cte in ("", "7bit", "8bit", "binary"):
        # The raw bytes; decode=False would replace non-ASCII bytes of charset-less parts.
        raw = m.get_payload(decode=True).decode("latin-1")
    else:
        raw = payload
    headers = [[k, str(v).replace("\r\n", "").replace("\n", "")] for k, v in m.raw_items()]
    return {"headers": headers, "body": raw}


def parse(boundary, data):
    head = ("Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n" % boundary).encode("latin-1")
    return tree(BytesParser(policy=policy.compat32).parsebytes(head + data))


def generate(outdir):
    rnd = random.Random(20261122)
    for n in range(12):
        outer = MIMEMultipart("mixed")
        if n % 3 == 0:
            outer.preamble = "This is a preamble, line %d." % n
        if n % 4 == 1:
            outer.epilogue = "epilogue text %d" % n
        for k in range(rnd.randint(1, 4)):
            kind = rnd.choice(["text", "binary", "nested", "long"])
            if kind == "text":
                lines = ["".join(rnd.choice("ab -\t") for _ in range(rnd.randint(0, 20))).strip() or "x"
                         for _ in range(rnd.randint(1, 4))]
                p = MIMEText("\n".join(lines))
            elif kind == "binary":
                p = MIMEApplication(bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 300))))
            elif kind == "long":
                p = MIMEText("folded headers above")
                # Long values are folded by the generator over several lines.
                p["X-Long-Header"] = " ".join("word%d" % i for i in range(40))
                p["Content-ID"] = "<%s + 1>" % ("part%d-" % k + "0123456789abcdef" * 2)
            else:
                p = MIMEMultipart("mixed")
                for j in range(rnd.randint(0, 3)):
                    q = MIMEBase("application", "octet-stream")
                    q.set_payload("inner %d.%d\r\nline two" % (k, j))
                    q["Content-ID"] = "<%d.%d@example>" % (k, j)
                    p.attach(q)
                if not p.get_payload():
                    p.attach(MIMEText("only"))
            outer.attach(p)
        wire = outer.as_bytes(policy=policy.SMTP)
        body = wire.split(b"\r\n\r\n", 1)[1]
        with open("%s/py%02d.bin" % (outdir, n), "wb") as f:
            f.write(body)
        with open("%s/py%02d.json" % (outdir, n), "w") as f:
            json.dump(parse(outer.get_boundary(), body), f)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2])
    else:
        with open(sys.argv[3], "rb") as f:
            print(json.dumps(parse(sys.argv[2], f.read())))
