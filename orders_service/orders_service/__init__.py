"""Orders service: admin staff place DNA kit orders for existing users."""
