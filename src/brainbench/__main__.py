from brainbench.cli import main

main()
