"""A run folder's files, usable without the trainer: claiming the folder, the checkpoint, the best weights, the resume guard and the file names."""
