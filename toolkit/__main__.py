from edgecolor.cli import main

main()
