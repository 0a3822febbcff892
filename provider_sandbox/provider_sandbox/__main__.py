from provider_sandbox.cli import main

main()
