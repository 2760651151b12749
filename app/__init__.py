"""The Gradio chatbot over the ``kg.service.KG`` facade (``app.ui.build_app``)."""
