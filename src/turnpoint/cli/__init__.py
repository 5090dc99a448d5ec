"""The umbrella `turnpoint` command line."""
