from emulators.workspace.server import main

main()
