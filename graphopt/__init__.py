"""graphopt: a graph-optimizing compiler for deep-learning models."""
