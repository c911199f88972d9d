from khamtop.cli import main

main()
