from emulators.eventgrid.server import main

main()
