"""The bundled demo: a MobileNet-style CNN trained on scikit-learn's digits."""
