from orders_service.cli import main

main()
