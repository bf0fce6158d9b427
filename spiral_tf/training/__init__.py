"""The training system: actors, trajectory pipeline, replay, policy and critic learners."""
