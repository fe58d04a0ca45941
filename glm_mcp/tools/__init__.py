"""Tools as GLM sees them: schemas compiled, arguments repaired and checked, results flattened. No I/O."""
