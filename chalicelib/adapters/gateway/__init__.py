"""Card payment gateways: a simulated one (the local default) and Stripe."""
