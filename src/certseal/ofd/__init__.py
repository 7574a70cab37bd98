"""OFD (GB/T 33190) document model: writer, reader, renderer. Knows nothing of signatures."""
