#!/usr/bin/env python3
"""Drives a program (real kubectl) in a pseudo-terminal for the end-to-end
tests: waits for output patterns, types input, resizes the terminal.

Usage: _pty.py SPEC_JSON
SPEC: {"argv": [...], "env": {...}, "size": [cols, rows],
       "steps": [{"expect": REGEX} | {"send": TEXT} | {"resize": [cols, rows]}]}
Prints one JSON object: {"code": EXIT, "output": BASE64, "failed": null | REASON}.
Every wait is for an event (output or exit); "deadline" (default 60 s) only
guards against a hang and makes the step fail with a message.
"""
import base64, fcntl, json, os, pty, re, select, signal, struct, sys, termios, time

spec = json.loads(sys.argv[1])
cols, rows = spec.get("size", [80, 24])
deadline = spec.get("deadline", 60)


def set_size(fd, c, r):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))


pid, fd = pty.fork()
if pid == 0:
    set_size(0, cols, rows)
    os.execvpe(spec["argv"][0], spec["argv"], spec.get("env", dict(os.environ)))

out = b""
failed = None
eof = False


def pump(timeout):
    global out, eof
    r, _, _ = select.select([fd], [], [], timeout)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            eof = True
        out += data


for step in spec.get("steps", []):
    if "expect" in step:
        pat = re.compile(step["expect"].encode())
        start = len(out) if step.get("new") else 0
        limit = time.monotonic() + deadline
        while not pat.search(out, start) and not eof:
            if time.monotonic() > limit:
                failed = "timed out waiting for %r" % step["expect"]
                break
            pump(0.5)
        if not pat.search(out, start):
            failed = failed or "output ended before %r" % step["expect"]
        if failed:
            break
    elif "send" in step:
        os.write(fd, step["send"].encode())
    elif "resize" in step:
        set_size(fd, step["resize"][0], step["resize"][1])

limit = time.monotonic() + deadline
while not eof:
    if time.monotonic() > limit:
        failed = failed or "program did not exit"
        os.kill(pid, signal.SIGKILL)
        break
    pump(0.5)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
print(json.dumps({"code": code, "output": base64.b64encode(out).decode(), "failed": failed}))
