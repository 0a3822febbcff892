from notification_gateway.cli import main

main()
