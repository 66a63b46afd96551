"""How work is done: stage workers, actors (llm, script, human) and routing."""
