from emulators.functions_host.server import main

main()
