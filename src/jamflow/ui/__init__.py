"""`jamflow ui`: a local web page (Gradio) over the `JAMFlow` API, one model in memory.

Layout: `limits` (server-side size/length checks), `examples` (the shipped example voices and texts),
`handlers` (one function per tab on the loaded model, no Gradio), `app`, `tabs`, `widgets` (the page),
`cli` (the command). Gradio is imported only by `app`, `tabs` and `widgets` (the optional extra
`jamflow[ui]`), so the rest of the package never needs it.
"""
