"""Serial sensors: RS485/USB ports read with pyserial (line protocols) or polled with pymodbus (Modbus RTU)."""
