"""AST passes of ad_compiler, in folders in pipeline order:

``frontend``  parse the user's function, refuse unsupported syntax
``normalize`` rewrite it into the small language the AD passes read
``analyses``  activity and shapes (facts; they never change the tree)
``ad``        forward and reverse mode, derivative templates
``cleanup``   batching, rank specialization, optimization of generated code
``backend``   unparse (``to_source``) and load

``nodes`` (AST node builders) and ``names`` (fresh names) are shared by all.
The order in which passes run is written once, in
``ad_compiler.compiler.transform``.
"""
