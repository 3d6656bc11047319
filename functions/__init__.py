"""The Azure Function app's functions, as blueprints; ``function_app.py`` at the app root registers them."""
