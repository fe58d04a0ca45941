"""The tool loop: GLM asked, its calls run on the gateway's tools, the results fed back; which tools it is offered."""
