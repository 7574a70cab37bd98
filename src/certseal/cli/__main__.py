from certseal.cli import main

main()
