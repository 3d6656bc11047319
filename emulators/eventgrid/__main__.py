"""``python -m emulators.eventgrid --config …`` serves; ``… subscribe|unsubscribe|list …`` manages one."""

import sys

from emulators.eventgrid import cli, server

if len(sys.argv) > 1 and sys.argv[1] in cli.COMMANDS:
    sys.exit(cli.main(sys.argv[1:]))
server.main()
