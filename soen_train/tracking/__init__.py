"""Reading and writing run records: MLflow wiring, TensorBoard reading, sweep summaries."""
