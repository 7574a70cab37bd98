"""Seal registry, seal images and SES_Seal (GB/T 38540 / GM/T 0031) structures."""
