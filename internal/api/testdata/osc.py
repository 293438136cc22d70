"""Runs openstack CLI commands for the api tests, one Python process for many.

Each line on stdin is a JSON list: the arguments of one `openstack` command.
The command runs through the `openstack` script's own entry point
(openstackclient.shell.main) with its stdout and stderr going to one buffer,
as `openstack ARGS` would print them; one JSON line {"rc": exit status,
"out": output} answers it. Starting Python and importing the client takes
seconds, the command itself a fraction of that: this pays the imports once.
Each command builds its clients afresh (forget_clients), as a new process
would.
"""

import io
import json
import logging
import os
import sys
import traceback

from openstackclient import shell
from osc_lib import clientmanager


def forget_clients():
    """Drops the API clients that the last command made.

    osc_lib keeps each client on the ClientManager class, for the rest of
    the process: a later command would reuse it, with its endpoint and
    session. A command must start as fresh as in a process of its own.
    """
    caches = [a for a in vars(clientmanager.ClientManager).values()
              if isinstance(a, clientmanager.ClientCache)]
    if not caches:
        sys.exit("osc.py: osc_lib keeps its clients elsewhere now; "
                 "commands would share them")
    for c in caches:
        c._handle = None


def run(prog, args):
    forget_clients()
    out = io.StringIO()
    saved = sys.stdout, sys.stderr, sys.argv
    handlers = list(logging.getLogger().handlers)
    sys.stdout = sys.stderr = out
    sys.argv = [prog] + args
    try:
        rc = shell.main(args)
    except SystemExit as e:  # argparse refusing the arguments
        rc = e.code if isinstance(e.code, int) else 1
    except Exception:
        traceback.print_exc()
        rc = 1
    finally:
        sys.stdout, sys.stderr, sys.argv = saved
        # Each run's shell adds a console handler on the root logger
        # (osc_lib.logs.LogConfigurator): keep only the ones from before.
        root = logging.getLogger()
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
    return rc or 0, out.getvalue()


def main():
    prog = sys.argv[1]
    # The answers get file descriptor 1 to themselves: whatever else
    # writes there goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        rc, out = run(prog, json.loads(line))
        answers.write(json.dumps({"rc": rc, "out": out}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
