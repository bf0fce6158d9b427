"""The agent's maths as pure functions: V-trace, A2C, WGAN-GP, rewards.

One module per concept; import the module (``from spiral_tf.losses import
vtrace as vtrace_lib``). Nothing is re-exported here, because re-exporting
the function ``vtrace`` would shadow the module of the same name.
"""
