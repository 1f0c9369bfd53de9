from memo.entrypoints.cli import main

main()
