from imagetune.cli import main

main()
