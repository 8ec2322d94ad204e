"""python3 -m coordinator_runner --code DIR --base-class module.Class --listen ADDR"""

import argparse
import os
import signal
import sys
import threading


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m coordinator_runner",
                                description="Serve one participant model over the model-runner protocol.")
    p.add_argument("--code", required=True, help="the model's directory (its .py files are imported at Setup)")
    p.add_argument("--listen", default="127.0.0.1:0", help="unix:/path.sock or host:port (port 0 picks a free one)")
    p.add_argument("--address-file", help="write the bound address here once serving")
    p.add_argument("--path", action="append", default=[],
                   help="directory put on sys.path before the model's (the challenge's base class module); repeatable")
    p.add_argument("--setup", metavar="CLASS",
                   help="check only: run Setup for base class CLASS, print the result and exit (0 on success)")
    a = p.parse_args(argv)

    if a.setup:
        from . import loader
        try:
            cls = loader.load_class(a.code, a.setup, a.path)
            loader.instantiate(cls)
        except loader.LoadError as exc:
            print("%s: %s" % (exc.code, exc))
            return 1
        print("SUCCESS: %s" % cls.__qualname__)
        return 0

    from . import server as srv
    try:
        server, _ = srv.serve(a.code, a.listen, a.path, a.address_file)
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write("coordinator_runner: cannot serve on %s: %s\n" % (a.listen, exc))
        return 2

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    # Exit when the host is gone (its pid changes), even without Pdeathsig.
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break
    server.stop(grace=1).wait(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
