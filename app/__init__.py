"""The Gradio chatbot over the ``app.service.KG`` facade (``app.ui.build_app``)."""
